"""Self-supervised training of the backbone on the unlabeled pool: dense contrastive learning between views.

The paper clusters the features of a MoCo-v2 ResNet-50 trained on ImageNet. Where no such weights can be
had (no download, or a domain far from ImageNet), this package trains the backbone on the pool itself, so the
clusters and the few-shot model's frozen features come from a self-supervised network, not a random one.
"""
