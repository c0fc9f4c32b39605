import pytest

from minimaskrcnn.config import Config


def test_json_round_trip_and_replace():
    cfg = Config(use_fpn=True, roi_op="roi_pool", mask_loss="softmax", stage_channels=(16, 32, 64))
    back = Config.from_json(cfg.to_json())
    assert back == cfg
    assert isinstance(back.stage_channels, tuple)
    assert cfg.replace(seed=3).seed == 3


def test_derived_values():
    cfg = Config()
    assert cfg.num_classes == 3
    assert cfg.backbone_stride == 16
    assert cfg.feature_strides == (4, 8, 16)
    assert Config(use_fpn=False).feature_strides == (16,)
    assert Config(stage_channels=(32, 64, 128, 128), stage_blocks=(1, 1, 1, 1)).backbone_stride == 32
    assert Config().num_mask_channels == 3
    assert Config(mask_loss="softmax").num_mask_channels == 4  # background + classes
    assert Config(class_agnostic_masks=True).num_mask_channels == 1


def test_display_lists_every_field():
    text = Config().display()
    assert "roi_op" in text and "'align_avg'" in text and "feature_strides" in text


@pytest.mark.parametrize("changes, name", [
    ({"roi_op": "bilinear"}, "roi_op"),
    ({"mask_loss": "dice"}, "mask_loss"),
    ({"mask_head": "cnn"}, "mask_head"),
    ({"image_size": 100}, "image_size"),
    ({"num_groups": 5}, "num_groups"),
    ({"stage_blocks": (1, 1)}, "stage_blocks"),
    ({"fpn_levels": (2, 4)}, "fpn_levels"),
    ({"anchor_sizes": (16.0,)}, "anchor_sizes"),
    ({"rpn_bg_iou": 0.8}, "rpn_fg_iou"),
    ({"base_lr": -1.0}, "base_lr"),
    ({"anchor_ratios": (0.0,)}, "anchor_ratios"),
    ({"use_fpn": False, "anchor_sizes": ()}, "anchor_sizes"),
    ({"rpn_positive_fraction": 2.0}, "rpn_positive_fraction"),
    ({"roi_fg_iou": 1.5}, "roi_fg_iou"),
    ({"roi_batch_per_image": 0}, "roi_batch_per_image"),
    ({"box_pool_size": 0}, "box_pool_size"),
    ({"mask_pool_size": 1}, "mask_pool_size"),
])
def test_invalid_values_name_the_field(changes, name):
    with pytest.raises(ValueError, match=name):
        Config(**changes)


def test_unknown_json_field_is_an_error():
    with pytest.raises(ValueError, match="unknown Config fields"):
        Config.from_dict({"not_a_field": 1})


@pytest.mark.parametrize("changes, name", [
    ({"steps": "abc"}, "steps"), ({"use_fpn": 1}, "use_fpn"), ({"mask_pool_size": 7.5}, "mask_pool_size"),
    ({"anchor_sizes": 16.0}, "anchor_sizes"), ({"base_lr": "0.1"}, "base_lr"),
])
def test_values_of_the_wrong_type_name_the_field(changes, name):
    with pytest.raises(TypeError, match=f"Config.{name}"):
        Config(**changes)
