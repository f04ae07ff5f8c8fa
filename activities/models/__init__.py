"""The activities app's models, one module per concern."""

from .activity import Activity, ActivityQuerySet, ActivityType, count_places
from .doors import DoorToDoorUnit
from .duty import DutyAssignment
from .notes import Concern, WorkUpdate
from .participation import Dispute, Participation

__all__ = [
    "Activity",
    "ActivityQuerySet",
    "ActivityType",
    "Concern",
    "Dispute",
    "DoorToDoorUnit",
    "DutyAssignment",
    "Participation",
    "WorkUpdate",
    "count_places",
]
