"""The exporters a Celery job can run, by their identifier (ExportJob.what): a new sheet joins
with one line here (and its choice in ExportLog.What)."""

from .exports import RosterExporter
from .records import RecordsExporter

EXPORTERS = {
    exporter.identifier: exporter
    for exporter in (
        RosterExporter,
        RecordsExporter,
    )
}
