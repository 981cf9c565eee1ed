"""What the rater page's protocol part (rating/ui/rater_page/protocols.js) needs to lay itself out."""
from __future__ import annotations

from core.protocol_scales import (ATTRIBUTE_TITLES, ATTRIBUTES, ERROR_CATEGORIES, ERROR_TITLES, HARM_EXTENTS,
                                  HARM_LIKELIHOODS, HARM_TITLES, MAX_ERROR_COUNT, PAIR_FIELDS, PREFERENCE_LABELS)


def protocol_page_meta() -> dict:
    """Category, attribute and harm names and titles (JSON-ready; nothing about systems)."""
    return {"categories": list(ERROR_CATEGORIES), "titles": ERROR_TITLES, "max_count": MAX_ERROR_COUNT,
            "attributes": list(ATTRIBUTES), "attribute_titles": ATTRIBUTE_TITLES,
            "preference_labels": {str(k): v for k, v in PREFERENCE_LABELS.items()},
            "harm_extents": list(HARM_EXTENTS), "harm_likelihoods": list(HARM_LIKELIHOODS),
            "harm_titles": HARM_TITLES, "pair_fields": list(PAIR_FIELDS)}
