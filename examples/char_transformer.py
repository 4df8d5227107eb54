"""Trains a small character-level transformer language model on Python source that ships with
Python itself (the standard library's `argparse` module, read from disk: no download), prints
the falling loss, then generates a sample from a prompt.

Run: pip install . && python examples/char_transformer.py [--steps 400] [--prompt "def "]

The model is hand-built from pullback.nn: a token embedding plus a learned position embedding,
nn.TransformerEncoder (pre-norm blocks whose attention runs mx.fast.scaled_dot_product_attention
under a causal mask) and a linear read-out to the characters; trained with
nn.value_and_grad and AdamW on random windows of the text.
"""

import argparse
import math
import time

import numpy as np

import pullback.core as mx
import pullback.nn as nn
import pullback.optimizers as optim

CORPUS = argparse  # the text to learn: this standard-library module's own source


class CharTransformer(nn.Module):
    def __init__(self, vocab: int, context: int, dims: int, heads: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.position = nn.Embedding(context, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=4 * dims)
        self.out = nn.Linear(dims, vocab)

    def __call__(self, tokens: mx.array) -> mx.array:
        length = tokens.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(length)
        h = self.embed(tokens) + self.position(mx.arange(length))
        return self.out(self.blocks(h, mask))


def load_text():
    with open(CORPUS.__file__, encoding="utf-8") as f:
        text = f.read()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    return np.array([index[c] for c in text], dtype=np.int32), chars


def batches(data: np.ndarray, context: int, batch: int, rng: np.random.Generator):
    """Random windows: inputs and the same windows shifted by one character (the targets)."""
    while True:
        starts = rng.integers(0, len(data) - context - 1, size=batch)
        window = np.stack([data[s:s + context + 1] for s in starts])
        yield mx.array(window[:, :-1]), mx.array(window[:, 1:])


def generate(model, prompt: str, chars, length: int, context: int, temperature: float) -> str:
    index = {c: i for i, c in enumerate(chars)}
    tokens = [index[c] for c in prompt if c in index] or [0]
    for _ in range(length):
        window = mx.array([tokens[-context:]])
        logits = model(window)[0, -1] / temperature
        tokens.append(mx.random.categorical(logits).item())
    return "".join(chars[t] for t in tokens)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--dims", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--prompt", default="def ")
    parser.add_argument("--sample-length", type=int, default=300)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    mx.random.seed(args.seed)
    data, chars = load_text()
    split = int(0.9 * len(data))
    train, valid = data[:split], data[split:]
    print(f"{len(data)} characters of {CORPUS.__file__}, {len(chars)} distinct")

    model = CharTransformer(len(chars), args.context, args.dims, args.heads, args.layers)
    mx.eval(model.parameters())
    # Warm up for a tenth of the steps, then a cosine decay to a tenth of the peak rate.
    warmup = max(1, args.steps // 10)
    schedule = optim.join_schedules(
        [optim.linear_schedule(1e-5, args.lr, warmup),
         optim.cosine_decay(args.lr, max(1, args.steps - warmup), args.lr / 10)], [warmup])
    optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.01)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(args.seed)
    stream = batches(train, args.context, args.batch, rng)
    x_valid, y_valid = next(batches(valid, args.context, 256, np.random.default_rng(1)))

    def validation_loss():
        return loss_fn(model, x_valid, y_valid).item()

    first = validation_loss()
    print(f"step 0: validation loss {first:.3f} (uniform guessing: {math.log(len(chars)):.3f})")
    start, running = time.perf_counter(), None
    for step in range(1, args.steps + 1):
        x, y = next(stream)
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        if step % max(1, args.steps // 10) == 0 or step == args.steps:
            print(f"step {step}: train loss {running:.3f}, validation loss "
                  f"{validation_loss():.3f}, {time.perf_counter() - start:.1f} s")
    last = validation_loss()
    print(f"validation loss {first:.3f} -> {last:.3f}")
    print("sample:")
    print(generate(model, args.prompt, chars, args.sample_length, args.context, args.temperature))
    return first, last


if __name__ == "__main__":
    main()
