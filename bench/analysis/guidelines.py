"""Radiology guideline compression ratios, to set a task-lossless ratio beside.

Canadian Association of Radiologists, "Standards for Irreversible Compression in Digital
Diagnostic Imaging within Radiology" (2008), from the pan-Canadian reader study (Koff et al.,
J. Digit. Imaging 22(6):569-578, 2009); for JPEG and JPEG 2000. Ratios are against the
stored image (DICOM stored bits or BitsAllocated): say which when comparing."""

from __future__ import annotations

SOURCE = "CAR 2008 (Koff et al. 2009), JPEG/JPEG 2000"
# modality -> (most permissive body-region ratio, neuro ratio or None where none is given)
CAR_2008: dict[str, tuple[int, int | None]] = {
    "CR": (30, None), "DX": (30, None), "CT": (15, 12), "US": (12, None), "MR": (24, 24), "NM": (11, 11),
}


def guideline_ratio(modality: str | None, neuro: bool = False) -> int | None:
    entry = CAR_2008.get((modality or "").upper())
    if entry is None:
        return None
    return entry[1] if neuro and entry[1] else entry[0]
