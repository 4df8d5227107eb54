"""Trains a two-layer perceptron on scikit-learn's handwritten digits (shipped inside the
scikit-learn package) with pullback's grad and plain minibatch SGD, and reports test accuracy.

Run: pip install . scikit-learn && python examples/train_digits.py
"""

import time

import numpy as np
from sklearn.datasets import load_digits

import pullback.core as mx


def init_params(rng, sizes):
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        scale = np.sqrt(2.0 / (fan_in + fan_out))
        params.append({
            "w": mx.array(rng.normal(0.0, scale, (fan_in, fan_out)).astype(np.float32)),
            "b": mx.zeros((fan_out,)),
        })
    return params


def forward(params, x):
    for layer in params[:-1]:
        x = mx.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, onehot):
    logits = forward(params, x)
    return mx.mean(mx.logsumexp(logits, axis=1) - mx.sum(logits * onehot, axis=1))


def accuracy(params, x, labels):
    return mx.mean(mx.argmax(forward(params, x), axis=1) == labels).item()


def main():
    # The seed example: d/dx sin(x) at 0 is cos(0) = 1.
    print("grad(sin)(0.0) =", mx.grad(mx.sin)(mx.array(0.0)).item())

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    x_train, y_train = mx.array(x[:split]), y[:split]
    x_test, y_test = mx.array(x[split:]), mx.array(y[split:])

    params = init_params(rng, [64, 64, 10])
    value_and_grad = mx.value_and_grad(loss_fn)
    learning_rate, batch, epochs = 0.5, 64, 30
    start = time.perf_counter()
    for epoch in range(epochs):
        perm = rng.permutation(split)
        total = 0.0
        for i in range(0, split, batch):
            idx = perm[i:i + batch]
            xb = mx.array(x[:split][idx])
            yb = mx.array(np.eye(10, dtype=np.float32)[y_train[idx]])
            loss, grads = value_and_grad(params, xb, yb)
            params = [{k: p[k] - learning_rate * g[k] for k in p} for p, g in zip(params, grads)]
            mx.eval(params, loss)
            total += loss.item() * len(idx)
        if epoch % 5 == 4 or epoch == 0:
            print(f"epoch {epoch + 1:2d}  train loss {total / split:.4f}  "
                  f"test accuracy {accuracy(params, x_test, y_test):.3f}")
    elapsed = time.perf_counter() - start
    final = accuracy(params, x_test, y_test)
    print(f"test accuracy {final:.3f} after {epochs} epochs in {elapsed:.1f} s")
    if final < 0.9:
        raise SystemExit("training did not reach 90% test accuracy")


if __name__ == "__main__":
    main()
