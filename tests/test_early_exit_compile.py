# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`torch.compile` of a whole early-exit model with dynamic shapes, traced on its very first call (no eager call
before it), with dynamo's "eager" backend so that no C compiler is needed and the trace takes seconds."""

import pytest
import torch

from hf_notlike.early_exit.modeling import LAYOUT_KEY


@pytest.fixture
def fresh_dynamo():
    """Each test traces its own model: forget the graphs and guards of the tests before it."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _ids(model, batch_size: int = 6, seq_len: int = 10, seed: int = 3):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, model.config.vocab_size, (batch_size, seq_len), generator=generator)
    lengths = torch.tensor([seq_len, 3, 7, seq_len, 5, 8])[:batch_size]
    mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
    ids[mask == 0] = model.config.pad_token_id
    return ids, mask


@pytest.mark.slow
def test_whole_model_compiles_on_its_first_call(early_exit_model, fresh_dynamo):
    model = early_exit_model("bert", exit_scale=3.0)
    reference = early_exit_model("bert", exit_scale=3.0)  # same seed: same weights, never compiled or traced
    ids, mask = _ids(model)
    compiled = torch.compile(model, dynamic=True, backend="eager")
    with torch.no_grad():
        for threshold in (0.6, 1.0):  # rows leaving at different exits, then every row to the last one
            got = compiled(ids, attention_mask=mask, exit_threshold=threshold)
            want = reference(ids, attention_mask=mask, exit_threshold=threshold)
            torch.testing.assert_close(got.logits, want.logits, rtol=1e-5, atol=1e-6)
            assert got.exit_layer.tolist() == want.exit_layer.tolist()
        assert len(set(want.exit_layer.tolist())) == 1
        # another batch size and length reuses the dynamic graphs and still matches
        ids, mask = _ids(model, batch_size=4, seq_len=7, seed=4)
        torch.testing.assert_close(compiled(ids, attention_mask=mask).logits,
                                   reference(ids, attention_mask=mask).logits, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_config_checks_hold_around_a_compiled_first_call(early_exit_model, fresh_dynamo):
    model = early_exit_model("bert")
    ids, mask = _ids(model)
    # a config that no longer describes the exits is refused while tracing, as in eager
    model.config.exit_layers = [1, 2, 4]
    with pytest.raises(ValueError, match=r"4 values but there are 3 exits"):
        torch.compile(model, dynamic=True, backend="eager")(ids, attention_mask=mask)
    model.config.exit_layers = [1, 2, 3, 4]
    # the layout buffer is not read back while tracing; the first eager call after the compiled one still reads it
    with torch.no_grad():
        getattr(model, LAYOUT_KEY)[-1] = 3  # recorded exit layers [1, 2, 3, 3] against the config's [1, 2, 3, 4]
        torch._dynamo.reset()
        torch.compile(model, dynamic=True, backend="eager")(ids, attention_mask=mask)
        with pytest.raises(ValueError, match="no longer describes the exits"):
            model(ids, attention_mask=mask)
