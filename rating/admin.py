"""STUB (to be replaced by the rating engineer): study set-up behind the admin secret."""


class AdminService:
    def __init__(self, session_factory, admin_secret=None, generation=None, data_path=None):
        self.session_factory = session_factory
