# The baseline of the image-size benchmark: a single-stage Dockerfile of the
# example app, as such Dockerfiles usually are: a compiler and libpq's
# headers installed to build the requirements, and shipped with the app.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libpq-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv --system-site-packages /venv
ENV PATH=/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt deploy/requirements-muelle.txt ./
RUN pip install --no-cache-dir -r requirements.txt -r requirements-muelle.txt
COPY . .
RUN MUELLE_BUILD=1 DJANGO_SETTINGS_MODULE=muelle_settings.production python manage.py collectstatic --noinput
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "pinboard.wsgi:application"]
