"""Unit tests of {{name}}'s logic, run natively: python3 -m unittest"""

import unittest

from logic import keeps, parse_config


class Test(unittest.TestCase):
    def test_keeps_the_configured_types_only(self):
        prefixes = parse_config('{"prefixes": ["order."]}')
        self.assertTrue(keeps("order.paid", prefixes))
        self.assertFalse(keeps("user.created", prefixes))

    def test_refuses_an_empty_config(self):
        for config in ['{"prefixes": []}', '{"prefix": "order."}', "not json"]:
            with self.assertRaises(ValueError):
                parse_config(config)


if __name__ == "__main__":
    unittest.main()
