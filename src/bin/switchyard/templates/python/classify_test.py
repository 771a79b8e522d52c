"""Unit tests of {{name}}'s logic, run natively: python3 -m unittest"""

import unittest

from logic import parse_config, permanent_reason


class Test(unittest.TestCase):
    def test_dead_letters_the_configured_statuses_only(self):
        permanent = parse_config('{"permanent": [410, 422]}')
        self.assertEqual(permanent_reason(422, permanent), "the receiver answered HTTP 422")
        self.assertIsNone(permanent_reason(503, permanent))

    def test_refuses_what_is_not_a_status(self):
        for config in ['{"permanent": [42]}', '{"permanent": ["410"]}', "{}"]:
            with self.assertRaises(ValueError):
                parse_config(config)


if __name__ == "__main__":
    unittest.main()
