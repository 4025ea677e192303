# The assistant's image: Rasa, the action server and the website, one program
# per container (python -m bot process rasa|actions|web). Built from the
# pinned requirements with the spaCy pipeline, the token vectors and the
# trained model inside, so a container downloads nothing when it starts.
#
#   docker build -t dry-needling-assistant:1 .
#
# Not built on the development machines (no container engine there); see
# README, "Deploy".

FROM node:20-bookworm-slim AS widget
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.10-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PYTHONPATH=/app TF_CPP_MIN_LOG_LEVEL=2 RASA_TELEMETRY_ENABLED=false
WORKDIR /app
COPY requirements.txt ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install pip==24.0 \
 && /opt/venv/bin/pip install -r requirements.txt
COPY . .
RUN /opt/venv/bin/python -m bot.nlp.builder --output build/spacy_en_physio \
 && /opt/venv/bin/python -m bot.nlp.embeddings --output build/wordllama \
 && /opt/venv/bin/rasa train --fixed-model-name faq --out models \
 && rm -rf .rasa tests results

FROM python:3.10-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 RASA_TELEMETRY_ENABLED=false \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    MODEL_PATH=/app/models/faq.tar.gz TRACKER_DB=/app/var/rasa.db
RUN useradd --uid 10001 --create-home --shell /usr/sbin/nologin clinic
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=clinic:clinic /app /app
COPY --from=widget --chown=clinic:clinic /src/node_modules /app/node_modules
WORKDIR /app
USER 10001
EXPOSE 5005 5055 8080
CMD ["python", "-m", "bot", "process", "rasa"]
