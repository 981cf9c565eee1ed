"""STUB (to be replaced by the rating engineer): what a rater may do."""


class RatingService:
    def __init__(self, session_factory):
        self.session_factory = session_factory
