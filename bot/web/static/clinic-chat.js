/*
 * Clinic chat widget: a small client for Rasa's socket.io channel.
 *
 *   <script src="https://ASSISTANT/widget/clinic-chat.js"
 *           data-socket-url="https://RASA" defer></script>
 *
 * Options (data-* on the script tag): socket-url (required), title,
 * init-payload (default "/greet"). Any element on the page with a
 * data-clinic-chat-open attribute opens the chat when clicked.
 *
 * Everything people or the bot write is put in the page as text
 * (textContent / text nodes), never as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.clinicChatLoaded) return;
  window.clinicChatLoaded = true;

  var base = new URL(".", script.src).href;
  var data = script.dataset;
  if (!data.socketUrl) {
    console.error("clinic-chat: data-socket-url is missing on the script tag");
    return;
  }
  var socketUrl = new URL(data.socketUrl, location.href);
  var config = {
    origin: socketUrl.origin,
    path: socketUrl.pathname.replace(/\/+$/, "") + "/socket.io/",
    title: data.title || "Chat with us",
    initPayload: data.initPayload || "/greet",
  };

  var MAX_MESSAGES = 200;
  var MAX_LENGTH = 1000;
  var REPLY_TIMEOUT_MS = 20000;
  var STORAGE_KEY = "clinic-chat:" + config.origin + config.path;

  /* sessionStorage: the conversation survives reloads and page changes in
     this tab, and is gone when the tab closes (it may hold a phone number). */
  var store = {
    load: function () {
      try {
        var saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
        if (saved && Array.isArray(saved.messages)) return saved;
      } catch (e) {
        /* storage disabled or unreadable: start afresh */
      }
      return { sessionId: null, messages: [], open: false };
    },
    save: function (state) {
      try {
        sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
      } catch (e) {
        /* storage disabled or full: the chat still works until reload */
      }
    },
  };

  var state = store.load();
  var socket = null;
  var outbox = [];
  var inbox = [];
  var showingReply = false;
  var replyTimer = null;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs.text;
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(child);
    });
    return node;
  }

  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute(
      "d",
      "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"
    );
    svg.appendChild(path);
    return svg;
  }

  /* Web addresses in the bot's answers become links; the rest stays text. */
  var URL_PATTERN = /https?:\/\/[^\s<>"']*[^\s<>"'.,;:!?)]/g;
  function appendText(parent, text, linkify) {
    var last = 0;
    if (linkify) {
      text.replace(URL_PATTERN, function (url, index) {
        parent.appendChild(document.createTextNode(text.slice(last, index)));
        parent.appendChild(
          el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url })
        );
        last = index + url.length;
        return url;
      });
    }
    parent.appendChild(document.createTextNode(text.slice(last)));
  }

  /* ---- the widget's DOM, in a shadow root ---- */
  var host = el("div", { id: "clinic-chat" });
  var root = host.attachShadow({ mode: "open" });
  var titleId = "clinic-chat-title";

  var launcherLabel = el("span", { text: "Chat with us" });
  var launcher = el(
    "button",
    { type: "button", class: "launcher", "aria-expanded": "false", "aria-controls": "panel" },
    [chatIcon(), launcherLabel]
  );
  var closeButton = el("button", {
    type: "button",
    class: "close",
    "aria-label": "Close chat",
    text: "\u00d7",
  });
  var status = el("p", { class: "status", role: "status" });
  /* A list inside the log region: role="log" on the <ol> itself would strip
     its list semantics. */
  var log = el("ol", { class: "log" });
  var replies = el("div", { class: "replies", role: "group", "aria-label": "Suggested replies" });
  var typing = el(
    "div",
    { class: "typing", hidden: "" },
    [
      el("span", { class: "sr-only", text: "The assistant is typing" }),
      el("span", { class: "dot", "aria-hidden": "true" }),
      el("span", { class: "dot", "aria-hidden": "true" }),
      el("span", { class: "dot", "aria-hidden": "true" }),
    ]
  );
  /* The log region scrolls, so it takes focus (keyboard users can scroll it
     once no buttons are left in it); new messages, suggested replies and
     the typing indicator are all announced from it. */
  var scroller = el(
    "div",
    { class: "scroller", role: "log", "aria-label": "Conversation", tabindex: "0" },
    [log, replies, typing]
  );
  var input = el("input", {
    id: "message",
    class: "input",
    type: "text",
    autocomplete: "off",
    maxlength: String(MAX_LENGTH),
    placeholder: "Type your question\u2026",
    enterkeyhint: "send",
  });
  var composer = el("form", { class: "composer" }, [
    el("label", { class: "sr-only", for: "message", text: "Your message" }),
    input,
    el("button", { type: "submit", class: "send", text: "Send" }),
  ]);
  var panel = el(
    "section",
    { id: "panel", class: "panel", role: "dialog", "aria-labelledby": titleId, hidden: "" },
    [
      el("div", { class: "header" }, [
        el("h2", { id: titleId, class: "title" }, [
          document.createTextNode(config.title),
          el("span", { class: "subtitle", text: "Assistant \u00b7 general information, not a diagnosis" }),
        ]),
        closeButton,
      ]),
      status,
      scroller,
      composer,
    ]
  );
  var widget = el("div", { class: "widget" }, [panel, launcher]);
  root.appendChild(el("link", { rel: "stylesheet", href: base + "clinic-chat.css" }));
  root.appendChild(widget);

  /* ---- rendering ---- */
  function renderMessage(message) {
    var bubble = el("p", { class: "bubble" });
    appendText(bubble, message.text, message.from === "bot");
    var who = message.from === "bot" ? "Assistant: " : "You: ";
    log.appendChild(
      el("li", { class: "msg msg-" + message.from }, [el("span", { class: "sr-only", text: who }), bubble])
    );
  }

  function renderReplies() {
    replies.textContent = "";
    var last = state.messages[state.messages.length - 1];
    if (!last || last.from !== "bot" || !last.replies) return;
    last.replies.forEach(function (reply) {
      var button = el("button", { type: "button", class: "reply", text: reply.title });
      button.addEventListener("click", function () {
        send(reply.title, reply.payload);
        input.focus();
      });
      replies.appendChild(button);
    });
  }

  function scrollToEnd() {
    scroller.scrollTop = scroller.scrollHeight;
  }

  function addMessage(message) {
    state.messages.push(message);
    if (state.messages.length > MAX_MESSAGES) state.messages.splice(0, state.messages.length - MAX_MESSAGES);
    store.save(state);
    renderMessage(message);
    renderReplies();
    scrollToEnd();
  }

  function setTyping(on) {
    if (on) typing.removeAttribute("hidden");
    else typing.setAttribute("hidden", "");
    if (on) scrollToEnd();
  }

  function awaitReply() {
    clearTimeout(replyTimer);
    setTyping(true);
    replyTimer = setTimeout(function () {
      if (!showingReply) setTyping(false);
    }, REPLY_TIMEOUT_MS);
  }

  /* Bot messages arrive in bursts; show them one by one behind the typing
     indicator, so a long answer does not appear all at once. */
  function showNextReply() {
    if (!inbox.length) {
      showingReply = false;
      clearTimeout(replyTimer);
      setTyping(false);
      return;
    }
    showingReply = true;
    setTyping(true);
    var message = inbox.shift();
    setTimeout(function () {
      addMessage(message);
      showNextReply();
    }, Math.min(250 + message.text.length * 3, 900));
  }

  function receive(raw) {
    if (!raw || typeof raw.text !== "string" || !raw.text.trim()) return;
    var quick = Array.isArray(raw.quick_replies) ? raw.quick_replies : [];
    var message = { from: "bot", text: raw.text };
    var buttons = quick
      .filter(function (r) {
        return r && typeof r.title === "string" && typeof r.payload === "string";
      })
      .map(function (r) {
        return { title: r.title, payload: r.payload };
      });
    if (buttons.length) message.replies = buttons;
    inbox.push(message);
    if (!showingReply) showNextReply();
  }

  /* ---- the connection ---- */
  function emit(payload) {
    socket.emit("user_uttered", { message: payload, session_id: state.sessionId });
  }

  function deliver(payload) {
    if (socket && socket.connected && state.sessionId) emit(payload);
    else outbox.push(payload);
    awaitReply();
  }

  function send(text, payload) {
    if (text) addMessage({ from: "user", text: text });
    deliver(payload || text);
  }

  /* Our pinned socket.io client, without taking over a global `io` the host
     page may have of its own (possibly another version). */
  function loadClient(done) {
    var previous = window.io;
    var tag = document.createElement("script");
    tag.src = base + "socket.io.min.js";
    tag.onload = function () {
      var io = window.io;
      if (previous === undefined) delete window.io;
      else window.io = previous;
      done(io);
    };
    tag.onerror = function () {
      status.textContent = "The chat could not load. Please call the clinic instead.";
    };
    document.head.appendChild(tag);
  }

  function connect() {
    if (socket) return;
    socket = {};
    loadClient(function (io) {
      socket = io(config.origin, { path: config.path });
      socket.on("connect", function () {
        status.textContent = "";
        socket.emit("session_request", { session_id: state.sessionId });
      });
      /* The server issues the conversation id: the one we kept if it issued
         it, else a new one. It ignores any id sent with a message. */
      socket.on("session_confirm", function (sessionId) {
        var isNew = sessionId !== state.sessionId;
        state.sessionId = sessionId;
        store.save(state);
        if (isNew && !state.messages.length && !outbox.length) deliver(config.initPayload);
        outbox.splice(0).forEach(emit);
      });
      socket.on("bot_uttered", receive);
      socket.on("connect_error", function () {
        status.textContent = "Can't reach the assistant right now; trying again\u2026";
      });
      socket.on("disconnect", function (reason) {
        if (reason !== "io client disconnect") status.textContent = "Reconnecting\u2026";
      });
    });
  }

  /* ---- opening and closing ---- */
  /* On a phone the open panel covers the page: it is then a modal dialog,
     the page behind it inert and focus kept inside it. */
  var phone = window.matchMedia("(max-width: 480px)");
  var madeInert = [];
  var opener = null;

  function setModal(on) {
    madeInert.forEach(function (node) { node.removeAttribute("inert"); });
    madeInert = [];
    if (on) {
      panel.setAttribute("aria-modal", "true");
      Array.prototype.forEach.call(document.body.children, function (node) {
        if (node !== host && !node.hasAttribute("inert")) {
          node.setAttribute("inert", "");
          madeInert.push(node);
        }
      });
    } else {
      panel.removeAttribute("aria-modal");
    }
  }

  function setOpen(open, moveFocus) {
    state.open = open;
    store.save(state);
    if (open) panel.removeAttribute("hidden");
    else panel.setAttribute("hidden", "");
    widget.classList.toggle("is-open", open);
    launcher.setAttribute("aria-expanded", String(open));
    launcherLabel.textContent = open ? "Hide chat" : "Chat with us";
    setModal(open && phone.matches);
    if (open) {
      connect();
      scrollToEnd();
      if (moveFocus) input.focus();
    } else if (moveFocus) {
      /* Back to whatever opened the chat: the launcher or a link on the page. */
      var back = opener && opener.isConnected ? opener : launcher;
      opener = null;
      back.focus();
    }
  }

  function focusable() {
    return Array.prototype.filter.call(
      panel.querySelectorAll("button, input, a[href], [tabindex='0']"),
      function (node) { return !node.disabled && node.offsetParent !== null; }
    );
  }

  launcher.addEventListener("click", function () {
    if (!state.open) opener = launcher;
    setOpen(!state.open, true);
  });
  closeButton.addEventListener("click", function () {
    setOpen(false, true);
  });
  widget.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && state.open) {
      event.preventDefault();
      setOpen(false, true);
      return;
    }
    if (event.key !== "Tab" || !state.open || !phone.matches) return;
    var nodes = focusable();
    var first = nodes[0];
    var last = nodes[nodes.length - 1];
    var active = root.activeElement;
    if (event.shiftKey && active === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  });
  phone.addEventListener("change", function () {
    setModal(state.open && phone.matches);
  });
  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim().slice(0, MAX_LENGTH);
    if (!text) return;
    input.value = "";
    send(text);
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-clinic-chat-open]");
    if (!link) return;
    event.preventDefault();
    if (!state.open) opener = link;
    setOpen(true, true);
  });

  function start() {
    state.messages.forEach(renderMessage);
    renderReplies();
    document.body.appendChild(host);
    if (state.open) setOpen(true, false);
  }

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
