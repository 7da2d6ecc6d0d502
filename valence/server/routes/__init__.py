"""One APIRouter per resource, all mounted under ``/api/v1``."""
