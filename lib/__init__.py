"""Medlake's domain: one subpackage per pipeline stage.

Importing ``lib`` applies one process-wide privacy guard. pydicom reports invalid
values by logging and warning with the value itself (``pydicom.misc.warn_and_log``,
"Invalid value for VR DA: '…'"), which in a PHI pipeline is a leak into logs and
App Insights. Medlake's own checks report such problems by keyword, so pydicom's
value validation on read is switched off and its logger raised to ERROR.

The Azure SDK logs every request URL at INFO (``HttpLoggingPolicy``), and blob
URLs carry blob names, which uploaders fill with patient names; the Functions
host forwards INFO records to Application Insights, so the ``azure`` logger is
raised to WARNING.
"""

import logging

import pydicom.config

pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
logging.getLogger("pydicom").setLevel(logging.ERROR)
logging.getLogger("azure").setLevel(logging.WARNING)
