{#- Folium's popups and tooltips put each value in as HTML: handleObject now escapes it
    (rawValue is Folium's own handleObject) -#}
let handleObject = value => String(rawValue(value)).replace(/[&<>"']/g, c => '&#' + c.charCodeAt(0) + ';');
    let rawValue = feature => {
