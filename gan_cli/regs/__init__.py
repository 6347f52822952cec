"""Stabilisation tricks, one module each, chosen as a list: `+reg=[feature_matching,ema]`.

Each is a `gan_cli.hooks.Hooks` subclass that overrides only the hooks it needs.
"""
