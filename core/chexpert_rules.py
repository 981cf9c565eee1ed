"""Phrase lists and scope rules of the rule-based CheXpert-style labeler (data, not logic).

Everything here is a lower-case regular-expression fragment matched on lower-cased report text.
`core.clinical` compiles these once and applies them. The conventions, in one place:

Mentions
    MENTIONS[obs] lists (pattern, base) pairs. base 1: a finding phrase whose final label depends
    on the negation/uncertainty triggers around it ("pleural effusion", "no pleural effusion").
    base 0: a normal-anatomy statement that is negative by itself and ignores triggers ("normal
    heart size" -> Cardiomegaly 0, "lungs are clear" -> Lung Opacity 0, "sharp costophrenic
    angles" -> Pleural Effusion 0). base -1: a phrase that is uncertain by itself ("borderline
    heart size").
    Deliberately not mentions (as in the CheXpert labeler): granuloma, scarring, emphysema,
    hernia, "normal pulmonary vascularity", "normal cardiomediastinal silhouette" for Cardiomegaly
    (it labels Enlarged Cardiomediastinum only).

Triggers (NegEx style)
    PRE_NEGATION / PRE_UNCERTAINTY apply to mentions after them in the same clause, at most
    PRE_WINDOW words away (so "No pneumothorax, pleural effusion or consolidation" negates all
    three). POST_NEGATION / POST_UNCERTAINTY apply to mentions at most POST_WINDOW words before
    them, without crossing a comma ("Effusion has resolved"). TWO_SIDED_UNCERTAINTY ("versus",
    "or") makes mentions within a few words (6 for "versus", 3 for "or") on either side uncertain, again without
    crossing a comma ("atelectasis versus infiltrate"). PSEUDO_TRIGGERS look like negations but
    are not ("no change in the cardiomegaly") and are consumed so that their "no" is ignored.
    Precedence for one mention: the nearest preceding trigger, else a following one, else a
    two-sided one, else positive. Negation words inside uncertainty phrases ("cannot exclude",
    "not excluded") are read as uncertainty because longer phrases are matched first.

Scope ends (clause boundaries)
    Sentence ends (". " / "?" / "!" / end of text), ";" ":" and the words in SCOPE_TERMINATORS
    ("but", "however", "although", "except", "which", "there is", ...). Decimal points
    ("2.2 cm") do not end a sentence.

Aggregation over a report
    Per observation: positive if any mention is positive, else uncertain if any is uncertain,
    else negative if any is negative, else not mentioned (None). No Finding is 1 when the text is
    not blank and no observation other than Support Devices is positive or uncertain; otherwise
    None (never 0), as in the CheXpert labeler.
"""
from __future__ import annotations

OBSERVATIONS: tuple[str, ...] = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Lesion",
    "Lung Opacity",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"
TOP5: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
"""The five observations CheXbert-based evaluations report separately."""

# ------------------------------------------------------------------ building blocks

_DEGREE = r"(?:mild(?:ly)?|moderate(?:ly)?|marked(?:ly)?|severe(?:ly)?|slight(?:ly)?|minimal(?:ly)?|significant(?:ly)?|somewhat|stabl[ey]|again|still|now|persistent(?:ly)?|new|newly|increasing(?:ly)?)"
_BE = r"(?:is|are|appears?|remains?|seems?|looks?|be|been|has|have|to|may|again|still|now|grossly|otherwise|xxxx)"
_HEART = r"(?:heart(?:\s+size)?|cardiac\s+(?:silhouette|size|contours?|shadow|borders?)|cardiac(?=\s+and\b))"
_MEDIASTINUM = (r"(?:cardiomediastinal(?:\s+(?:silhouette|contours?|shadow|width))?|mediastinum|superior\s+mediastinum"
                r"|mediastinal(?:\s+(?:silhouette|contours?|shadow|width))?)")
_ENLARGED = r"(?:enlarged|enlargement|enlarging|increased(?:\s+in\s+size)?|large|prominent|prominence)"
_WIDENED = r"(?:widened|widening|wide|enlarged|enlargement|prominent|prominence)"
_NORMAL = (r"(?:normal(?:\s+in\s+(?:size|contour|appearance))?|within\s+normal\s+limits|unremarkable|not\s+enlarged"
           r"|upper\s+limits?\s+of\s+normal|top\s+normal|stable\s+and\s+normal|negative)")
# Up to n words between two parts of a phrase, never crossing punctuation.
_GAP3 = r"(?:[\w-]+\s+){0,3}"
_GAP5 = r"(?:[\w-]+\s+){0,5}"
_FILL = rf"(?:(?:{_BE}|{_DEGREE}|not|and|the|of)\s+){{0,4}}"


def _near(a: str, b: str, gap: str = _GAP5) -> str:
    """`a` then `b` within a few words (same clause, no punctuation between)."""
    return rf"\b{a}\s+{gap}{b}\b"


MENTIONS: dict[str, list[tuple[str, int]]] = {
    "Enlarged Cardiomediastinum": [
        (rf"\b{_MEDIASTINUM}\s+{_FILL}{_WIDENED}\b", 1),
        (rf"\b(?:{_DEGREE}\s+)?{_WIDENED}\s+(?:of\s+the\s+)?{_MEDIASTINUM}", 1),
        (r"\benlarged\s+cardiomediastinum\b", 1),
        (_near(_MEDIASTINUM, _NORMAL), 0),
        (rf"\bnormal\s+(?:(?:heart|cardiac|size|and|the)\s+){{0,3}}{_MEDIASTINUM}", 0),
    ],
    "Cardiomegaly": [
        (r"\bcardiomegaly\b", 1),
        (r"\bcardiac\s+enlargement\b", 1),
        (rf"\b{_HEART}\s+{_FILL}(?:{_ENLARGED}|enlarged\s+in\s+size)\b", 1),
        (rf"\b(?:{_DEGREE}\s+)?{_ENLARGED}\s+(?:of\s+the\s+)?{_HEART}\b", 1),
        (rf"\b{_HEART}\s+{_FILL}borderline\b", -1),
        (rf"\bborderline\s+(?:{_ENLARGED}\s+(?:of\s+the\s+)?)?{_HEART}\b", -1),
        (_near(_HEART, _NORMAL), 0),
        (rf"\b(?:normal|unremarkable)\s+(?:(?:sized?|the|size)\s+)?{_HEART}", 0),
    ],
    "Lung Lesion": [
        (r"\bnodul(?:e|es|ar\s+(?:opacit(?:y|ies)|densit(?:y|ies)|opacification))\b", 1),
        (r"(?<!mass )\bmass(?:es)?\b(?!\s+effect)", 1),
        (r"\b(?:lung|pulmonary|cavitary|parenchymal|spiculated)\s+lesions?\b", 1),
        (r"\b(?:carcinoma|neoplasms?|tumou?rs?|malignancy|metastas[ie]s|metastatic\s+disease|lump)\b", 1),
    ],
    "Lung Opacity": [
        (r"\bopacit(?:y|ies)\b", 1),
        (r"\bopacifi(?:cation|ed)\b", 1),
        (r"\binfiltrat(?:e|es|ion|ive\s+process)\b", 1),
        (r"\bair[- ]?space\s+(?:disease|process|opacit(?:y|ies))\b", 1),
        (r"\b(?:lung|airspace|parenchymal|pulmonary|focal|patchy|streaky|hazy|increased|retrocardiac|basilar)\s+densit(?:y|ies)\b", 1),
        (r"\bground[- ]glass\b", 1),
        (r"\bhaziness\b", 1),
        (rf"\blungs?\s+(?:fields?\s+)?{_FILL}(?:otherwise\s+)?clear\b", 0),
        (r"\bclear\s+lungs?\b", 0),
        (r"\blungs?\s+(?:are\s+)?(?:[\w-]+\s+){0,3}(?:but|and)\s+clear\b", 0),
        (r"\blung\s+volumes?,\s+otherwise\s+clear\b", 0),
    ],
    "Edema": [
        (r"(?<!soft tissue )\bedema(?:tous)?\b", 1),
        (r"\b(?:pulmonary\s+|vascular\s+|venous\s+)+(?:congestion|engorgement)\b", 1),
        (r"\bcongestive\s+(?:heart\s+)?failure\b|\bchf\b|\b(?:heart|cardiac)\s+failure\b", 1),
        (r"\b(?:evidence\s+(?:of|for)|signs?\s+of)\s+failure\b", 1),
        (r"\bfluid\s+overload\b|\bcephalization\b|\bkerley\b", 1),
    ],
    "Consolidation": [
        (r"\bconsolidat(?:ion|ions|ive|ed)\b", 1),
    ],
    "Pneumonia": [
        (r"\b(?:broncho)?pneumonias?\b|\bpneumonitis\b|\bpneumonic\b", 1),
        (r"\binfect(?:ion|ions|ious(?:\s+process)?)\b", 1),
    ],
    "Atelectasis": [
        (r"\batelecta(?:sis|ses|tic)\b", 1),
        (r"\b(?:lobar|lobe|lung|segmental|subsegmental|basilar)\s+collapse\b", 1),
        (r"\bcollapse\s+of\s+the\s+(?:[\w-]+\s+){0,3}(?:lobe|lung|segment)\b", 1),
        (r"\bvolume\s+loss\b", 1),
    ],
    "Pneumothorax": [
        (r"\b(?:hydro)?pneumothora(?:x|ces)\b", 1),
    ],
    "Pleural Effusion": [
        (r"(?<!pericardial )(?<!joint )\beffusions?\b", 1),
        (r"\bpleural\s+fluid\b|\bhydrothorax\b|\bhydropneumothorax\b|\bempyema\b|\bfissural\s+fluid\b", 1),
        (r"\bfluid\s+(?:with)?in\s+the\s+(?:\w+\s+)?(?:fissure|pleural\s+space)\b|\blayering\s+fluid\b", 1),
        (r"\bblunt(?:ing|ed)\s+(?:of\s+)?(?:the\s+)?(?:(?:left|right|bilateral|both)\s+)?(?:posterior\s+|lateral\s+)?costophrenic\b", 1),
        (r"\bcostophrenic\s+(?:angles?\s+|sulcus\s+|sulci\s+)?(?:(?:is|are)\s+)?(?:\w+\s+)?blunt(?:ing|ed)?\b", 1),
        (r"\bcostophrenic\s+(?:angles?|sulci|recesses)\s+(?:(?:is|are|remain)\s+)?(?:sharp|clear|normal)\b", 0),
        (r"\bsharp\s+costophrenic\b", 0),
    ],
    "Pleural Other": [
        (r"\bpleural(?:[- ]parenchymal)?\s+(?:thickening|scarring|scar|plaques?|calcifications?|reaction)\b", 1),
        (r"\bfibrothorax\b|\bapical\s+(?:pleural\s+)?cap(?:ping)?\b|\bpleural[- ]based\s+(?:opacit(?:y|ies)|density|thickening)\b", 1),
        (r"\bcalcified\s+pleura(?:l\s+plaques?)?\b", 1),
    ],
    "Fracture": [
        (r"\bfractur(?:e|es|ed)\b|\bfx\b", 1),
    ],
    "Support Devices": [
        (r"\b(?:pacemaker|pacer|defibrillator|aicd|icd|loop\s+recorder)s?\b", 1),
        (r"\b(?:et|endotracheal|nasogastric|ng|og|orogastric|feeding|enteric|chest|thoracostomy|tracheostomy"
         r"|gastrostomy|dobb?hoff|nasoenteric)\s+tubes?\b", 1),
        (r"\b(?:ett|tracheostomy|trach)\b", 1),
        (r"\bpicc(?:\s+line)?s?\b", 1),
        (r"\b(?:central|venous|ij|jugular|subclavian|arterial|dialysis|swan[- ]ganz|pa|catheter)\s+(?:venous\s+)?(?:lines?|catheters?)\b", 1),
        (r"\bcatheters?\b|\bport[- ]?a[- ]?cath\b|\bmediport\b|\b(?:chest|infusion|power|venous|subclavian)\s+port\b", 1),
        (r"\bsternotomy\b|\bsternal\s+wires?\b|\bcabg\b|\b(?:pacing|epicardial|pacer|pacemaker)\s+(?:wires?|leads?)\b", 1),
        (r"\bstents?\b|\bvalve\s+(?:replacement|prosthesis)\b|\bprosthetic\s+(?:\w+\s+)?valve\b|\bswan[- ]ganz\b", 1),
        (r"\b(?:support|monitoring|cardiac)\s+devices?\b", 1),
    ],
}

KEYWORDS: dict[str, tuple[str, ...]] = {
    "Enlarged Cardiomediastinum": ("mediastin",),
    "Cardiomegaly": ("cardi", "heart"),
    "Lung Lesion": ("nodul", "mass", "lesion", "carcinoma", "neoplasm", "tumo", "malignan", "metasta", "lump"),
    "Lung Opacity": ("opaci", "infiltrat", "air", "densit", "ground", "haz", "lung"),
    "Edema": ("edema", "congest", "engorge", "failure", "chf", "overload", "cephaliz", "kerley"),
    "Consolidation": ("consolidat",),
    "Pneumonia": ("pneumoni", "infect"),
    "Atelectasis": ("atelecta", "collapse", "volume"),
    "Pneumothorax": ("pneumothora",),
    "Pleural Effusion": ("effusion", "fluid", "hydro", "empyema", "costophrenic"),
    "Pleural Other": ("pleura", "fibrothorax", "apical"),
    "Fracture": ("fractur", "fx"),
    "Support Devices": ("pac", "defib", "icd", "recorder", "tube", "ett", "trach", "picc", "line", "catheter",
                        "port", "sternotomy", "sternal", "cabg", "wire", "lead", "stent", "valve", "swan", "device"),
}
"""Speed gate: every mention of an observation contains one of its keywords, so texts with none
skip that observation's patterns. (tests/test_clinical.py checks the gate changes no label.)"""

# ------------------------------------------------------------------ triggers

PSEUDO_TRIGGERS: tuple[str, ...] = (
    "no change", "no interval change", "no significant change", "no significant interval change",
    "no substantial change", "not significantly changed", "not changed", "without change",
    "without interval change", "no increase", "no decrease", "not only", "gram negative",
    "to suggest", "to indicate", "that would suggest",
)
"""Phrases containing a negation word that do not negate what follows."""

PRE_NEGATION: tuple[str, ...] = (
    "no", "not", "without", "free of", "negative for", "absence of", "absent", "neither", "nor",
    "no evidence of", "no signs of", "no sign of", "resolution of", "interval resolution of",
    "removal of", "interval removal of", "clear of", "rather than", "ruled out for",
    "no longer any", "clearing of", "interval clearing of",
)
POST_NEGATION: tuple[str, ...] = (
    "not seen", "not identified", "not visualized", "not visible", "not appreciated", "not demonstrated",
    "not evident", "not present", "not noted", "not detected", "not apparent",
    "is absent", "are absent", "resolved", "has resolved", "have resolved", "has cleared", "have cleared",
    "no longer seen", "no longer present", "no longer visualized", "no longer visible", "no longer identified",
    "no longer evident", "no longer noted", "no longer demonstrated", "removed", "has been removed",
    "have been removed", "been excluded", "is excluded", "are excluded", "ruled out",
)
PRE_UNCERTAINTY: tuple[str, ...] = (
    "may", "might", "could", "possible", "possibly", "probable", "probably", "likely", "presumed",
    "presumably", "suspected", "suspect", "suspicious for", "suspicion of", "suspicion for",
    "concerning for", "concern for", "worrisome for", "suggestive of", "suggesting", "suggests",
    "suggest", "question of", "questionable", "equivocal", "borderline", "cannot exclude",
    "can not exclude", "cannot rule out", "can not rule out", "can't exclude", "difficult to exclude",
    "not excluding", "differential includes", "differential diagnosis includes", "differential diagnosis",
    "rule out", "r/o", "evaluate for", "evaluation for", "assess for", "potential", "potentially",
    "correlate for", "correlate clinically for", "compatible with early",
    "may represent", "could represent", "may reflect", "could reflect",
)
POST_UNCERTAINTY: tuple[str, ...] = (
    "is possible", "are possible", "not excluded", "not entirely excluded", "cannot be excluded",
    "can not be excluded", "could not be excluded", "cannot be ruled out", "can not be ruled out",
    "cannot be entirely excluded", "not ruled out", "not be excluded", "is suspected", "are suspected",
    "is questioned", "is likely", "are likely", "is favored", "is probable", "is questionable",
    "not completely excluded", "is not excluded", "are not excluded",
)
TWO_SIDED_UNCERTAINTY: dict[str, int] = {"versus": 6, "vs": 6, "vs.": 6, "or": 3, "and/or": 3}
"""Two-sided triggers and the most words between each and a mention it makes uncertain."""

SCOPE_TERMINATORS: tuple[str, ...] = (
    "but", "however", "although", "though", "except", "apart from", "aside from", "other than",
    "with the exception of", "which", "whereas", "while", "yet", "there is", "there are",
    "there has been", "there have been", "there was", "otherwise",
)

PRE_WINDOW = 12
"""Most words between a preceding trigger and the mention it governs."""
POST_WINDOW = 6
"""Most words between a mention and a following trigger that governs it."""
