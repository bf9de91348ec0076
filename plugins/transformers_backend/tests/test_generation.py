"""Decoding on the tiny gpt-oss checkpoint: exactness against transformers, prefix reuse,
sampling, limits and the memory policy of the kept caches."""

import pytest
import torch
from openai_harmony import Conversation, Message, Role

from gyrosi_core.errors import ContextLengthError
from gyrosi_transformers.backend import TransformersBackend


@pytest.fixture(scope="module")
def prompt(harmony_encoding):
    """A real Harmony prompt, longer than the sliding window."""
    convo = Conversation.from_messages([
        Message.from_role_and_content(Role.SYSTEM, "You are a helpful assistant."),
        Message.from_role_and_content(Role.USER, "Name three rivers of Europe, and say why."),
    ])
    tokens = harmony_encoding.render_conversation_for_completion(convo, Role.ASSISTANT)
    assert len(tokens) > 16
    return tokens


def generate(backend, prompt, **kw):
    options = {"stop_tokens": [], "max_tokens": 24} | kw
    return list(backend.generate(prompt, **options))


def reference(model, prompt, n):
    out = model.generate(torch.tensor([prompt]), max_new_tokens=n, do_sample=False)
    return out[0, len(prompt):].tolist()


def test_greedy_equals_model_generate(shared_backend, prompt):
    ours = generate(shared_backend, prompt, max_tokens=48)
    assert ours == reference(shared_backend.model, prompt, 48)
    assert len(set(ours)) > 1  # a model stuck on one token would prove little


def test_prefix_reuse_gives_the_cold_start_tokens(shared_backend, prompt):
    b = shared_backend
    first = generate(b, prompt, session_id="reuse")
    # the next turn: the whole previous exchange plus new text
    follow = prompt + first + prompt[-10:]
    computed, reused = b.computed_tokens, b.reused_tokens
    warm = generate(b, follow, session_id="reuse")
    # the cache held the prompt and every answer token but the last (never run through the model)
    assert b.reused_tokens - reused == len(prompt) + len(first) - 1
    assert b.computed_tokens - computed == 11 + len(warm) - 1
    assert warm == generate(b, follow) == reference(b.model, follow, 24)
    # a prompt that diverges part-way: the cache is cropped to the shared part
    reused = b.reused_tokens
    branch = prompt[:-5] + prompt[:7]
    assert generate(b, branch, session_id="reuse") == reference(b.model, branch, 24)
    assert b.reused_tokens - reused == len(prompt) - 5
    # the same prompt again: all but its last token come from the cache
    assert generate(b, branch, session_id="reuse") == reference(b.model, branch, 24)
    b.end_session("reuse")
    assert "reuse" not in b.sessions.lengths()


def test_caller_stopping_early_leaves_a_usable_cache(shared_backend, prompt):
    b = shared_backend
    stream = b.generate(prompt, stop_tokens=[], max_tokens=50, session_id="early")
    head = [next(stream) for _ in range(5)]
    stream.close()  # what the turn engine does when it has seen enough
    assert b.sessions.lengths()["early"] == len(prompt) + 4
    follow = prompt + head + prompt[:3]
    assert generate(b, follow, session_id="early") == reference(b.model, follow, 24)
    b.end_session("early")


def test_seeded_sampling_is_reproducible(shared_backend, prompt):
    b = shared_backend
    one = generate(b, prompt, temperature=1.0, seed=7)
    assert one == generate(b, prompt, temperature=1.0, seed=7)
    assert one != generate(b, prompt, temperature=1.0, seed=8)
    assert one != generate(b, prompt)  # temperature 1 really samples


def test_top_p_keeps_the_nucleus(tiny_checkpoint, harmony_encoding, prompt):
    narrow = TransformersBackend(
        {"checkpoint": str(tiny_checkpoint), "top_p": 1e-9}, harmony_encoding)
    # a nucleus of one token is greedy decoding, whatever the seed
    assert generate(narrow, prompt, temperature=1.5, seed=3) == generate(narrow, prompt)
    half = TransformersBackend({"checkpoint": str(tiny_checkpoint), "top_p": 0.5},
                               harmony_encoding)
    # at a low temperature the nucleus is a few tokens, the greedy one among them
    sampled = generate(half, prompt, temperature=0.3, seed=3)
    assert sampled == generate(half, prompt, temperature=0.3, seed=3) != generate(half, prompt)
    probs = torch.softmax(half.model(torch.tensor([prompt])).logits[0, -1] / 0.3, dim=-1)
    assert probs[sampled[0]] >= probs.topk(64).values[-1]  # drawn from the head, not the tail


def test_stop_tokens_and_max_tokens(shared_backend, prompt):
    greedy = generate(shared_backend, prompt, max_tokens=10)
    assert generate(shared_backend, prompt, max_tokens=4) == greedy[:4]
    third = greedy[2]
    assert generate(shared_backend, prompt, stop_tokens=[third]) == greedy[:3]


def test_context_length_is_enforced(tiny_checkpoint, harmony_encoding, prompt):
    assert TransformersBackend({"checkpoint": str(tiny_checkpoint)},
                               harmony_encoding).context_length == 4096  # the model's own
    short = TransformersBackend(
        {"checkpoint": str(tiny_checkpoint), "context_length": len(prompt) + 3}, harmony_encoding)
    assert short.context_length == len(prompt) + 3
    assert len(generate(short, prompt, max_tokens=100)) == 3  # no room for more
    with pytest.raises(ContextLengthError, match="context"):
        generate(short, prompt + [1, 2, 3])


def test_token_ids_outside_the_vocabulary_are_refused(shared_backend):
    with pytest.raises(ValueError, match="vocabulary"):
        generate(shared_backend, [1, 2, 201088])


def test_kept_caches_stay_within_count_and_memory(tiny_checkpoint, harmony_encoding, prompt):
    def backend(**settings):
        return TransformersBackend({"checkpoint": str(tiny_checkpoint), **settings},
                                   harmony_encoding)

    two = backend(max_sessions=2)
    for sid in ("a", "b", "c"):
        generate(two, prompt, max_tokens=3, session_id=sid)
    assert list(two.sessions.lengths()) == ["b", "c"]  # the least recently used went first
    generate(two, prompt, max_tokens=3, session_id="b")
    generate(two, prompt, max_tokens=3, session_id="d")
    assert list(two.sessions.lengths()) == ["b", "d"]
    # a memory budget of two and a half caches keeps the last two
    one = two.sessions.take("d")
    assert one is not None and one.nbytes() > 0
    small = backend(cache_memory_mb=2.5 * one.nbytes() / 2**20, max_sessions=100)
    for i in range(5):
        generate(small, prompt, max_tokens=3, session_id=str(i))
    assert list(small.sessions.lengths()) == ["3", "4"]
    # memory short (more free memory demanded than any machine has): nothing is kept ...
    starved = backend(min_free_memory_mb=2**40)
    first = generate(starved, prompt, session_id="s")
    assert starved.sessions.lengths() == {}
    # ... and the next turn is computed from scratch, with the same result
    follow = prompt + first
    assert generate(starved, follow, session_id="s") == generate(two, follow)
    assert starved.reused_tokens == 0


def test_threads_setting(tiny_checkpoint, harmony_encoding):
    before = torch.get_num_threads()
    try:
        TransformersBackend({"checkpoint": str(tiny_checkpoint), "threads": 1}, harmony_encoding)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_turn_engine_keeps_the_cache_for_its_conversation(tiny_checkpoint, harmony_encoding):
    from gyrosi_core.config import Config
    from gyrosi_core.turn import TurnEngine

    backend = TransformersBackend({"checkpoint": str(tiny_checkpoint)}, harmony_encoding)
    engine = TurnEngine(backend, harmony_encoding,
                        config=Config.model_validate({"core": {"max_tokens": 8}}))
    conv = engine.new_conversation()
    list(engine.user_turn(conv, "Hello!"))
    assert conv.id in backend.sessions.lengths()
    # the next turn renders the same system message and so starts from the kept cache
    list(engine.user_turn(conv, "Hello again!"))
    assert backend.reused_tokens > 0
    engine.end_conversation(conv)
    assert conv.id not in backend.sessions.lengths()
    engine.close()
