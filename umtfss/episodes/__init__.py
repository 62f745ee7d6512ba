"""Episodes: everything between the pseudo labels and a batch the few-shot model trains or is scored on.

- the `episodes` stage's pool of pseudo tasks: cluster regions per image (:mod:`.regions`) and each region's
  support candidates (:mod:`.candidates`), as Parquet tables, and a picture of some clusters (:mod:`.plots`);
- who may be a query or a support, and the seeded evaluation episodes (:mod:`.sampling`);
- the samplers pretrain and finetune draw from: :mod:`.pseudo` (the pool above) and :mod:`.labeled`;
- joint image + mask transforms (:mod:`.transforms`) and the one loader of labeled episodes (:mod:`.load`);
- their config (:mod:`.config`).

An episode is a dict: ``query_image`` (3, S, S) float32, ``query_mask`` (S, S) int64 in {0, 1, 255},
``support_images`` (K, 3, S, S), ``support_masks`` (K, S, S), ``class_id`` and ``query_index``; evaluation
episodes add ``query_label`` (the binary mask at the original resolution) and ``query_extent``.
"""
