"""Backbones: the architectures and their named feature levels (:mod:`.config`, no torch needed), and one
interface that builds any of them (:mod:`.build`)."""
