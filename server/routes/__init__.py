"""HTTP endpoints. Importing the modules registers their endpoints in `_endpoint.ENDPOINTS`."""
from . import calls, chat, provisioning, rooms, signaling  # noqa: F401  (registration by import)
from . import core  # noqa: F401  (app passwords, /ocs/v{1,2}.php/core/...)
from . import people  # noqa: F401  (core/autocomplete, the people search)
from . import files, search  # noqa: F401  (issue 11: attachments, shared items, search)
from ._endpoint import register_endpoints
from .web import register_web

__all__ = ["register_endpoints", "register_web"]
