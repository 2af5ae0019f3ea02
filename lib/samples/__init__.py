"""Synthetic DICOM for the demo, the tests and the benchmarks.

Every identifier here is made up (``SYNTHETIC^…`` names, ``SYN…`` IDs, UIDs under
the ``2.25`` arc derived from a seed), so the samples carry no real patient data.
"""

from lib.samples.synthetic import (
    SyntheticPatient,
    ct_instance,
    ct_series,
    write_ct_corpus,
)

__all__ = ["SyntheticPatient", "ct_instance", "ct_series", "write_ct_corpus"]
