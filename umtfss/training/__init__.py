"""Episodic training shared by pretraining and finetuning: optimisers, checkpoints, DDP, and the resumable run
(:mod:`.run`) that selfsup trains through too."""
