"""The exception hierarchy. The CLI turns each into one line and an exit code."""


class PhotoverifyError(Exception):
    """A failure the user can act on. Its message is one line that names the file and reason."""

    exit_code = 1


class UsageError(PhotoverifyError):
    exit_code = 2


class EnvironmentProblem(PhotoverifyError):
    """A tool or resource the run needs is missing or unusable (exiftool, the catalog)."""

    exit_code = 3


class CatalogError(EnvironmentProblem):
    pass


class PlanError(PhotoverifyError):
    """A plan file is invalid, or cannot be carried out safely."""

    exit_code = 2


class ManifestError(PhotoverifyError):
    """A manifest file is malformed or refers outside its root."""

    exit_code = 2
