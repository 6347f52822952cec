"""Architectures: each module exposes `build(sample_shape, latent_dim, bounded, **options) -> (G, D)`.

G maps (B, latent_dim) noise to (B, *sample_shape) samples; D maps samples to (B,) logits, in two
parts that tricks build on: `D.features(x)` (its last hidden layer) and `D.head(features)` (the logits);
`base.SequentialDiscriminator` gives both to a D built as one `nn.Sequential`.
`bounded` says the data lie in [-1, 1], so G ends in tanh; otherwise G's output is linear.
"""
