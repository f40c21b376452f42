from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pinboard.release import current_release

from .forms import PinForm
from .models import Board, Pin

STATS_KEY = "board:stats"


def board_stats():
    """Pins per board, cached: the page is read far more than written."""
    stats = cache.get(STATS_KEY)
    if stats is None:
        stats = list(Board.objects.annotate(n=Count("pins")).values_list("name", "n"))
        cache.set(STATS_KEY, stats, 60)
    return stats


def save_pin(form, user):
    pin = form.save(commit=False)
    if user.is_authenticated:
        pin.created_by = user
    pin.save()
    cache.delete(STATS_KEY)
    return pin


def index(request):
    request.session["visits"] = request.session.get("visits", 0) + 1
    if request.method == "POST":
        form = PinForm(request.POST, request.FILES)
        if form.is_valid():
            pin = save_pin(form, request.user)
            request.session["last_board"] = pin.board_id
            return redirect("board:index")
    else:
        form = PinForm(initial={"board": request.session.get("last_board") or default_board_id()})
    return render(
        request,
        "board/index.html",
        {
            "form": form,
            "pins": Pin.objects.select_related("board", "created_by")[:50],
            "stats": board_stats(),
            "visits": request.session["visits"],
        },
    )


def default_board_id():
    board = Board.objects.filter(slug="general").first()
    return board.pk if board else None


@csrf_exempt
@require_http_methods(["GET", "POST"])
def api_pins(request):
    """POST creates a pin (form fields or multipart); GET counts them."""
    if request.method == "GET":
        return JsonResponse({"count": Pin.objects.count(), "release": current_release()})
    data = request.POST.copy()
    if not data.get("board"):
        data["board"] = default_board_id()
    form = PinForm(data, request.FILES)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    pin = save_pin(form, request.user)
    return JsonResponse(pin_json(pin), status=201)


def api_pin(request, pk):
    return JsonResponse(pin_json(get_object_or_404(Pin, pk=pk)))


def pin_json(pin):
    return {
        "id": pin.pk,
        "title": pin.title,
        "board": pin.board.slug,
        "attachment": pin.attachment.url if pin.attachment else None,
        "release": current_release(),
    }


def health(request):
    """Liveness and the release, plus a cheap database round trip."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database error means "not healthy", not a 500 page
        return JsonResponse(
            {"status": "error", "release": current_release(), "database": "unavailable"}, status=503
        )
    return JsonResponse({"status": "ok", "release": current_release(), "database": "ok"})
