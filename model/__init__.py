"""The model module (MTMB pretraining, fine-tuning, evaluation); it reads relxdata's shards."""
