"""Private attributes kept by the Retain Safe Private Option (PS3.15 E.3.10).

A private attribute is identified by its group, its private creator and the low
byte of its element (PS3.5 7.8.1); the block number (``xx`` in ``gggg,xxee``) is
allocated per file and is therefore not part of the identity. Only attributes
whose content is a number describing the acquisition are listed: diffusion
b-values and gradient directions that MR research needs and that vendors keep
in private tags. Everything else private is removed.
"""

from __future__ import annotations

__all__ = ["SAFE_PRIVATE"]

# (group, private creator, element low byte)
SAFE_PRIVATE: frozenset[tuple[int, str, int]] = frozenset(
    {
        # Siemens MR: B_value, DiffusionDirectionality, DiffusionGradientDirection,
        # B_matrix.
        (0x0019, "SIEMENS MR HEADER", 0x0C),
        (0x0019, "SIEMENS MR HEADER", 0x0D),
        (0x0019, "SIEMENS MR HEADER", 0x0E),
        (0x0019, "SIEMENS MR HEADER", 0x27),
        # GE MR: b-value (slop_int_1) and gradient direction components.
        (0x0043, "GEMS_PARM_01", 0x39),
        (0x0019, "GEMS_ACQU_01", 0xBB),
        (0x0019, "GEMS_ACQU_01", 0xBC),
        (0x0019, "GEMS_ACQU_01", 0xBD),
        # Philips MR: Diffusion B-Factor.
        (0x2001, "Philips Imaging DD 001", 0x03),
    }
)
