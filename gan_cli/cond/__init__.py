"""Class-conditional generation, one module per method, chosen with `cond=NAME` (conf/cond/NAME.yaml).

Each is a `gan_cli.cond.base.Conditioning`: it binds the data's classes to z, wraps D to take labels, and
adds its own loss terms as hooks; the loop never asks which one it has.
"""
