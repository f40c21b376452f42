import json
import shutil
import tempfile

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase, override_settings
from django.urls import reverse

from pinboard.release import current_release

from .models import Board, Pin


class PinboardTests(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.media = tempfile.mkdtemp()
        cls.media_override = override_settings(MEDIA_ROOT=cls.media)
        cls.media_override.enable()

    @classmethod
    def tearDownClass(cls):
        cls.media_override.disable()
        shutil.rmtree(cls.media, ignore_errors=True)
        super().tearDownClass()

    def setUp(self):
        cache.clear()
        self.general = Board.objects.get(slug="general")  # from migration 0002

    def test_index_lists_pins_and_shows_release(self):
        Pin.objects.create(board=self.general, title="hello pin")
        resp = self.client.get(reverse("board:index"))
        self.assertContains(resp, "hello pin")
        self.assertContains(resp, f'<code id="release">{current_release()}</code>', html=True)

    def test_create_pin_with_upload_stores_file_under_media_root(self):
        upload = SimpleUploadedFile("note.txt", b"file body", content_type="text/plain")
        resp = self.client.post(
            reverse("board:index"),
            {"board": self.general.pk, "title": "with file", "attachment": upload},
        )
        self.assertEqual(resp.status_code, 302)
        pin = Pin.objects.get(title="with file")
        self.assertTrue(pin.attachment.name.startswith("pins/"))
        with pin.attachment.open("rb") as f:
            self.assertEqual(f.read(), b"file body")

    def test_session_counts_visits(self):
        self.client.get(reverse("board:index"))
        resp = self.client.get(reverse("board:index"))
        self.assertContains(resp, "visited this page 2 times")

    def test_stats_are_cached_and_invalidated_on_create(self):
        self.client.get(reverse("board:index"))
        self.assertEqual(cache.get("board:stats"), [("General", 0)])
        self.client.post(reverse("board:api-pins"), {"title": "api pin"})
        self.assertIsNone(cache.get("board:stats"))

    def test_api_creates_pin_on_default_board(self):
        resp = self.client.post(reverse("board:api-pins"), {"title": "from api"})
        self.assertEqual(resp.status_code, 201)
        body = json.loads(resp.content)
        self.assertEqual(body["board"], "general")
        self.assertEqual(Pin.objects.get(pk=body["id"]).title, "from api")
        resp = self.client.get(reverse("board:api-pin", args=[body["id"]]))
        self.assertEqual(json.loads(resp.content)["title"], "from api")

    def test_api_rejects_missing_title(self):
        resp = self.client.post(reverse("board:api-pins"), {})
        self.assertEqual(resp.status_code, 400)
        self.assertIn("title", json.loads(resp.content)["errors"])

    def test_signed_in_user_is_recorded(self):
        user = get_user_model().objects.create_user("ana", password="a-long-test-password")
        self.assertTrue(self.client.login(username="ana", password="a-long-test-password"))
        self.client.post(reverse("board:index"), {"board": self.general.pk, "title": "mine"})
        self.assertEqual(Pin.objects.get(title="mine").created_by, user)

    def test_login_page_renders(self):
        resp = self.client.get(reverse("login"))
        self.assertContains(resp, "Sign in")

    def test_health_reports_release_and_database(self):
        resp = self.client.get(reverse("board:health"))
        self.assertEqual(resp.status_code, 200)
        self.assertEqual(
            json.loads(resp.content),
            {"status": "ok", "release": current_release(), "database": "ok"},
        )
