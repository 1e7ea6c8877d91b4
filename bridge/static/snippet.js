/* Postback Bridge storefront snippet: keeps the affiliate click in a first-party cookie, tells
   the bridge (POST /clicks) and, on Shopify, writes it into the cart attributes.
   Never reads or sends an email address. No dependencies. */
(function (settings) {
  "use strict";
  var script = document.currentScript;
  var endpoint = new URL("/clicks", script ? script.src : location.href).href;
  var maxAge = settings.days * 86400;

  function readCookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  function writeCookie(name, value) {
    var secure = location.protocol === "https:" ? "; Secure" : "";
    document.cookie = name + "=" + encodeURIComponent(value) + "; Max-Age=" + maxAge +
      "; Path=/; SameSite=Lax" + secure;
  }

  function newVisitorId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }

  function clickInUrl() {
    var query = new URLSearchParams(location.search);
    for (var i = 0; i < settings.params.length; i++) {
      var value = (query.get(settings.params[i]) || "").trim();
      if (value) return { param: settings.params[i], id: value };
    }
    return null;
  }

  function clickInCookie() {
    var saved = readCookie("_pbb_click");
    var at = saved.indexOf("=");
    return at > 0 ? { param: saved.slice(0, at), id: saved.slice(at + 1) } : null;
  }

  function tellBridge(click, visitorId, cartToken) {
    return fetch(endpoint, {
      method: "POST", mode: "cors", credentials: "omit", keepalive: true,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ click_id: click.id, click_param: click.param,
        visitor_id: visitorId, cart_token: cartToken || "", landing_url: location.href })
    }).catch(function () {});
  }

  // Shopify copies cart attributes into the order's note_attributes; the cart token links the
  // order to this click even when the attributes are lost (the order's cart_token drops "?key=").
  function syncShopifyCart(click, visitorId, fresh) {
    var lookup = fresh ? Promise.resolve(null) : fetch("/cart.js").then(function (r) {
      return r.json();
    });
    return lookup.then(function (cart) {
      if (cart && cart.token && cart.token === readCookie("_pbb_cart")) return null;
      var attributes = { _pbb_visitor: visitorId };
      attributes[click.param] = click.id;
      return fetch("/cart/update.js", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ attributes: attributes })
      }).then(function (r) { return r.json(); }).then(function (updated) {
        var token = String(updated.token || "").split("?")[0];
        writeCookie("_pbb_cart", token);
        return tellBridge(click, visitorId, token);
      });
    }).catch(function () { return fresh ? tellBridge(click, visitorId, "") : null; });
  }

  function capture() {
    var fromUrl = clickInUrl();
    var click = fromUrl || clickInCookie();
    if (!click) return;
    var visitorId = readCookie("_pbb_vid") || newVisitorId();
    writeCookie("_pbb_vid", visitorId);
    if (fromUrl) writeCookie("_pbb_click", click.param + "=" + click.id);
    if (window.Shopify && window.Shopify.shop) {
      syncShopifyCart(click, visitorId, !!fromUrl);
    } else if (fromUrl) {
      tellBridge(click, visitorId, "");
    }
  }

  // Consent mode: nothing is stored or sent until the page says the visitor agreed.
  if (!settings.consent || window.postbackBridgeConsent === true) {
    capture();
  } else {
    window.addEventListener("postback-bridge:consent", capture, { once: true });
  }
})(__BRIDGE_SETTINGS__);
