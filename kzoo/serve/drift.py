"""Placeholder until the drift monitor lands: no export has a training profile."""


def load_profile(version_dir):
    return None


class DriftMonitor:
    def __init__(self, profile):
        self.profile = profile
