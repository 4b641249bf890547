"""Imports every domain's models so SQLAlchemy's metadata (and Alembic) knows all tables."""
from app.ai_models import models as ai_models_models  # noqa: F401
from app.api import models as api_models  # noqa: F401
from app.auth import models as auth_models  # noqa: F401
from app.auth import oidc_models as auth_oidc_models  # noqa: F401
from app.auth import token_models as auth_token_models  # noqa: F401
from app.auth import two_factor_models  # noqa: F401
from app.billing import models as billing_models  # noqa: F401
from app.chat import models as chat_models  # noqa: F401
from app.folders import models as folders_models  # noqa: F401
from app.ideas import models as ideas_models  # noqa: F401
from app.jobs import models as jobs_models  # noqa: F401
from app.nav import models as nav_models  # noqa: F401
from app.projects import models as projects_models  # noqa: F401
from app.prompts import models as prompts_models  # noqa: F401
from app.security import audit as audit_models  # noqa: F401
from app.sharing import models as sharing_models  # noqa: F401
from app.usage import models as usage_models  # noqa: F401
