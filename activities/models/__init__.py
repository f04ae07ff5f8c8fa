"""The activities app's models, one module per concern."""

from .activity import Activity, ActivityQuerySet, ActivityType, count_places
from .agency_activity import AgencyActivity
from .doors import DoorToDoorUnit
from .duty import DutyAssignment
from .needs import Need, NeedClaim
from .notes import Concern, WorkUpdate
from .participation import Dispute, Participation

__all__ = [
    "Activity",
    "ActivityQuerySet",
    "ActivityType",
    "AgencyActivity",
    "Concern",
    "Dispute",
    "DoorToDoorUnit",
    "DutyAssignment",
    "Need",
    "NeedClaim",
    "Participation",
    "WorkUpdate",
    "count_places",
]
