"""STUB (to be replaced by the analysis engineer)."""


class AnalysisService:
    def __init__(self, session_factory, admin=None):
        self.session_factory = session_factory
