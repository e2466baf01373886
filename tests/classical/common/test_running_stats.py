import numpy as np
import torch

from classical.common.running_stats import RunningMeanStd


def test_batches_merge_to_the_statistics_of_the_whole_stream():
    values = np.random.default_rng(0).normal(3.0, 2.0, size=1000)
    stats = RunningMeanStd()
    for chunk in np.split(values, [1, 10, 400, 401]):
        stats.update(chunk)
    assert stats.count == 1000
    np.testing.assert_allclose([stats.mean, stats.var], [values.mean(), values.var()], rtol=1e-10)


def test_standardize_works_on_tensors_and_state_round_trips():
    stats = RunningMeanStd()
    stats.update(np.array([-4.0, -2.0]))
    out = stats.standardize(torch.tensor([-3.0, -1.0]))
    torch.testing.assert_close(out, torch.tensor([0.0, 2.0]), atol=1e-6, rtol=0)
    copy = RunningMeanStd()
    copy.load_state_dict(stats.state_dict())
    assert copy.state_dict() == stats.state_dict()
