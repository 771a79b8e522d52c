"""Unit tests of {{name}}'s logic, run natively: python3 -m unittest"""

import unittest

from logic import parse_config, with_fields


class Test(unittest.TestCase):
    def test_adds_the_configured_fields(self):
        add = parse_config('{"add": {"environment": "production"}}')
        body = b'{"id":"evt_1","environment":"test"}'
        self.assertEqual(with_fields(body, add), b'{"id":"evt_1","environment":"production"}')

    def test_refuses_a_body_that_is_not_an_object(self):
        with self.assertRaises(ValueError):
            with_fields(b"[1, 2]", {"a": 1})

    def test_refuses_a_config_without_fields(self):
        for config in ['{"add": 1}', '{"fields": {}}', "not json"]:
            with self.assertRaises(ValueError):
                parse_config(config)


if __name__ == "__main__":
    unittest.main()
