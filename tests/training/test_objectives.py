from __future__ import annotations

import torch
from torch.nn import functional as F

from xling.training.objectives import info_nce, teacher_student_loss


def test_info_nce_rewards_aligned_pairs():
    torch.manual_seed(0)
    a = F.normalize(torch.randn(8, 16), dim=-1)
    aligned = info_nce(a, a, temperature=0.05)
    shuffled = info_nce(a, a.roll(1, 0), temperature=0.05)
    assert aligned < 0.1 < shuffled
    b = F.normalize(torch.randn(8, 16), dim=-1)
    assert torch.isclose(info_nce(a, b, 0.1), info_nce(b, a, 0.1))  # symmetric


def test_teacher_student_is_zero_only_when_both_sides_match_the_teacher():
    teacher = F.normalize(torch.randn(4, 8), dim=-1)
    assert teacher_student_loss(teacher, teacher, teacher) == 0
    other = F.normalize(torch.randn(4, 8), dim=-1)
    assert teacher_student_loss(teacher, other, teacher) > 0
