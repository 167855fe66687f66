"""Imports every domain's models: the single metadata import for Alembic and tests."""

from companion.accounts.models import (  # noqa: F401
    CareTeamMember,
    Clinic,
    Consent,
    IdempotencyRecord,
    Invitation,
    LoginAttempt,
    Patient,
    User,
    WebSession,
)
from companion.alerts.models import Alert, AlertEvent, HelpPress  # noqa: F401
from companion.checkins.models import CheckIn, CheckInSideEffect  # noqa: F401
from companion.clinic.models import AuditEvent, BreakGlassGrant, TreatmentPlan  # noqa: F401
from companion.db import Base
from companion.journal.models import JournalEntry  # noqa: F401
from companion.notify.delivery_models import Delivery, NotificationPreference, PushSubscription  # noqa: F401
from companion.notify.models import OutboxMessage  # noqa: F401
from companion.questionnaires.models import QuestionnaireResponse  # noqa: F401
from companion.reminders.models import ReminderOccurrence, ReminderSchedule  # noqa: F401
from companion.risk.models import SafetyPlanVersion  # noqa: F401
from companion.treatments.models import SessionPrep, SessionReflection, TreatmentSession  # noqa: F401

metadata = Base.metadata
