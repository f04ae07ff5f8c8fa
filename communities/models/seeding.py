"""What `manage.py seed_scale` put in this database: the city-size data for benchmarks."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CitySeed(models.Model):
    """One row per city-size dataset seeded into this database (`manage.py seed_scale`), so
    that the benchmark can tell a city it may reuse from data it must not touch. The project
    has no settings table and the xiachen package has no models, so it lives here, at the
    bottom of the dependency order, beside the places it fills."""

    scale = models.FloatField(_("scale"))
    seed = models.BigIntegerField(_("random seed"))
    today = models.DateField(_("built around"))
    seeded_at = models.DateTimeField(_("seeded at"))
    seconds = models.FloatField(_("seconds taken"))
    counts = models.JSONField(_("rows per table"), default=dict)
    checksum = models.CharField(_("checksum of the data"), max_length=64)

    class Meta:
        verbose_name = _("city-size dataset")
        verbose_name_plural = _("city-size datasets")
        ordering = ["-seeded_at"]

    def __str__(self):
        return f"×{self.scale:g} (seed {self.seed}, {self.seeded_at:%Y-%m-%d %H:%M})"
