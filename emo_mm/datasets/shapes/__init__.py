"""Deterministic generator of a small synthetic "shapes" dataset in COCO format.

One call writes, from a single seed, everything the detection, segmentation and
classification demos need::

    out_dir/
      train/images/000000.png ...     RGB images
      train/semantic/000000.png ...   uint8 label maps: 0 = background, k = class index + 1
      train/crops/<class>/*.png       64x64 single-object crops (mmpretrain CustomDataset layout)
      val/...                         same layout as train
      annotations/instances_{train,val}.json   COCO instances (compressed RLE masks)
      annotations/crops_{train,val}.txt        mmpretrain ann files, paths relative to <split>/crops
      meta.json                       generator version + arguments, written last

Masks, boxes and areas describe the *visible* pixels of each object (later objects
occlude earlier ones). :mod:`.render` draws a scene, :mod:`.writers` writes the files,
:mod:`.cache` keeps the dataset on disk; the CLI is
``python tools/dataset_converters/make_shapes.py --out data/shapes [--num-train N ...]``.
"""
from .cache import GENERATOR_NAME, ensure_shapes, generate_shapes, read_meta
from .render import SHAPES_CLASSES, SHAPES_PALETTE, SHAPES_SEG_CLASSES, SHAPES_SEG_PALETTE
from .writers import CROP_SIZE, GENERATOR_VERSION, decode_rle, encode_rle

__all__ = [
    'CROP_SIZE', 'GENERATOR_NAME', 'GENERATOR_VERSION', 'SHAPES_CLASSES', 'SHAPES_PALETTE',
    'SHAPES_SEG_CLASSES', 'SHAPES_SEG_PALETTE', 'decode_rle', 'encode_rle', 'ensure_shapes',
    'generate_shapes', 'read_meta'
]
