"""The communities app's models, one module per concern."""

from .agreements import Agreement, AgreementQuerySet
from .places import Agency, Community, Compound, Grid, Robot, RobotFields, Street
from .roles import StaffRole

__all__ = [
    "Agency",
    "Agreement",
    "AgreementQuerySet",
    "Community",
    "Compound",
    "Grid",
    "Robot",
    "RobotFields",
    "StaffRole",
    "Street",
]
