"""The communities app's models, one module per concern."""

from .agreements import Agreement, AgreementQuerySet, in_force_on
from .places import Agency, Community, Compound, Grid, Robot, RobotFields, Street
from .roles import StaffRole
from .seeding import CitySeed

__all__ = [
    "Agency",
    "Agreement",
    "CitySeed",
    "AgreementQuerySet",
    "Community",
    "Compound",
    "Grid",
    "Robot",
    "RobotFields",
    "StaffRole",
    "Street",
    "in_force_on",
]
