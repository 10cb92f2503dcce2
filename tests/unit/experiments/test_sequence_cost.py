"""sequence_cost: attention's weights grow like T², the LSTM's state does not."""

import json

import pytest

from attn_course.experiments.sequence_cost import sequence_cost


def test_sequence_cost_measures_weights_and_times():
    cost = sequence_cost((8, 16, 32), d_model=16, num_heads=2, batch_size=3, progress=False)
    json.dumps(cost)
    assert cost["seq_lens"] == [8, 16, 32]
    # the (B, H, T, T) float32 weights, measured on the tensor the layer returned
    assert cost["weights_bytes"] == [3 * 2 * T * T * 4 for T in (8, 16, 32)]
    assert cost["lstm_state_bytes"] == [2 * 3 * 16 * 4] * 3
    assert cost["attention_path"] == [1, 1, 1] and cost["lstm_path"] == [7, 15, 31]
    assert all(ms > 0 for ms in cost["attention_ms"] + cost["lstm_ms"])
    assert cost["threads"] == 1


def test_sequence_cost_refuses_bad_lengths():
    with pytest.raises(ValueError, match="positive lengths"):
        sequence_cost((8, 0), progress=False)
    with pytest.raises(ValueError, match="positive lengths"):
        sequence_cost((), progress=False)
