"""Episodic training shared by pretraining and finetuning: optimisers, checkpoints, resume, DDP."""
