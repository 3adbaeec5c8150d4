import threading
import time

import torch

from skfrl.nn import grad_reverse, reversal_override
from skfrl.utils import torch_rng


def test_torch_rng_is_seeded_and_restores_the_callers_generator():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with torch_rng(7):
        a = torch.rand(3)
    # The caller's stream continues as if the block had not drawn.
    assert torch.equal(torch.rand(3), expected_next)
    with torch_rng(7):
        assert torch.equal(torch.rand(3), a)


def test_torch_rng_blocks_do_not_interleave_across_threads():
    def draw(seed, out):
        with torch_rng(seed):
            first = torch.rand(1000)
            time.sleep(0.02)  # another thread would seed the generator here
            out[seed] = torch.cat([first, torch.rand(1000)])

    alone = {}
    for seed in range(4):
        draw(seed, alone)
    together = {}

    threads = [threading.Thread(target=draw, args=(s, together)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for seed in range(4):
        assert torch.equal(alone[seed], together[seed])


class _Stop:
    @staticmethod
    def apply(x, scale):
        return x.detach()


def test_reversal_override_applies_to_this_thread_only():
    x = torch.ones(3, requires_grad=True)
    seen = {}

    def other_thread():
        seen["requires_grad"] = grad_reverse(x).requires_grad

    with reversal_override(_Stop):
        assert not grad_reverse(x).requires_grad
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert seen["requires_grad"]  # the other thread kept the real reversal
    y = grad_reverse(x, 2.0)
    y.sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -2.0))
