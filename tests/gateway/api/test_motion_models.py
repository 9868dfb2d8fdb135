"""What ``GET /v1/models`` says of a version's talking-head member."""

from __future__ import annotations

from contract.combination import MemberCombination
from gateway.api.routes import motion_member_info
from gateway.motion_schemas import MotionMemberInfo
from gateway.upstream.serving_types import VersionDescription
from gateway.version_schemas import ModelVersionInfo


def _described(motion: MemberCombination | None) -> VersionDescription:
    return VersionDescription(
        name="deepfake",
        version=2,
        threshold=0.5,
        frame_min_side=0,
        sequence_length=0,
        motion_combination=motion,
    )


def test_a_version_lists_its_talking_head_member_or_null() -> None:
    joined = MemberCombination(visual=0.8123456789, member=1.25, bias=-0.5, floor=0.02)
    info = motion_member_info(_described(joined))
    assert info == MotionMemberInfo(visual=0.812346, member=1.25, bias=-0.5, floor=0.02)
    assert motion_member_info(_described(None)) is None
    assert motion_member_info(None) is None  # not AVAILABLE: nothing is known
    listed = ModelVersionInfo(version=2, state="AVAILABLE", motion=info).model_dump()
    assert listed["motion"] == {"visual": 0.812346, "member": 1.25, "bias": -0.5, "floor": 0.02}
    assert ModelVersionInfo(version=1, state="LOADING").model_dump()["motion"] is None
