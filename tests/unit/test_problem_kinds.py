"""Every problem kind the stored checks document has a zh-CN name on the review pages (an
unnamed kind shows as its English identifier in the workbench's report table)."""

from __future__ import annotations

import re

import pytest

from gis.ingest import stored_checks
from gis.web.upload_page import PROBLEM_KINDS

pytestmark = pytest.mark.unit


def test_the_stored_checks_kinds_have_names() -> None:
    documented = set(re.findall(r"``([a-z_]+)`` \((?:error|warning)", stored_checks.__doc__ or ""))
    documented |= set(re.findall(r"``([a-z_]+)`` warning", stored_checks.__doc__ or ""))
    assert {"area_changed", "region_moved", "child_outside_sliver"} <= documented
    assert sorted(documented - set(PROBLEM_KINDS)) == []
