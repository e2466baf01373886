import pytest
from pydantic import BaseModel, ConfigDict, model_validator

from classical.common.config import ConfigError, validate


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    low: int = 0
    high: int = 1

    @model_validator(mode="after")
    def _ordered(self):
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high}); lower low or raise high.")
        return self


def test_field_errors_name_the_key_and_value():
    with pytest.raises(ConfigError) as err:
        validate(Window, {"low": "many"}, "c.yaml")
    assert str(err.value).startswith("c.yaml: key 'low' = 'many': Input should be a valid integer")


def test_cross_key_errors_give_the_message_without_dumping_the_entry():
    with pytest.raises(ConfigError) as err:
        validate(Window, {"low": 5, "high": 2}, "c.yaml")
    assert str(err.value) == "c.yaml: low (5) must not exceed high (2); lower low or raise high."


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match=r"c.yaml: unknown key 'hihg'. Remove it or check its spelling."):
        validate(Window, {"hihg": 3}, "c.yaml")
